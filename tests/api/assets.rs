//! Static assets (#22): content-hashed names in every page, precompressed
//! variants chosen by `Accept-Encoding`, immutable caching for hashed files,
//! revalidation for the rest, and pages compressed on the fly.

use crate::harness::{TestDb, TestResult, TestServer};
use reqwest::header;
use std::io::Read;
use std::path::Path;

// The JS glue and the wasm share a hash (they change together).
const JS: &str = "0123456789abcdef";
const WASM: &str = JS;
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

/// The site built into the binary (feature `embed-site`, on by default)
/// serves without any site folder: with no `PORTCULLIS_SITE_ROOT` the
/// server answers the built site's hashed assets from memory, each encoding
/// byte for byte what `scripts/build-site.sh` wrote (it ran before this
/// test binary was compiled, as `make test` does), with the same caching,
/// validators and 304s; the root's favicon too; the hash file and the
/// precompressed variants by name are not served.
#[tokio::test]
async fn the_site_built_into_the_binary_serves_alone() -> TestResult {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/site");
    let hashes = std::fs::read_to_string(built.join("hash.txt")).map_err(|e| {
        format!(
            "{}: {e}; build the site first (scripts/build-site.sh --site-only)",
            built.display()
        )
    })?;
    let hash_of = |kind: &str| -> String {
        hashes
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{kind}: ")))
            .unwrap_or_else(|| panic!("no {kind} line in hash.txt"))
            .to_owned()
    };
    let (js, css) = (hash_of("js"), hash_of("css"));
    assert_eq!(hash_of("wasm"), js, "the JS glue and the wasm share a hash");

    // This binary carries the site (a build without one falls back to the
    // target/site folder, which would pass the checks below from disk).
    let site = portcullis::http::assets::Site::open(None).map_err(|e| format!("{e:#}"))?;
    assert_eq!(site.describe(), "built into the binary");

    // Empty: no folder named.
    let srv = TestServer::start_on(TestDb::sqlite(), &[("PORTCULLIS_SITE_ROOT", "")]).await;
    let c = srv.client();
    let html = c.get(srv.url("/login")).send().await?.text().await?;
    for name in [
        format!("/pkg/portcullis.{css}.css"),
        format!("/pkg/portcullis.{js}.js"),
        format!("/pkg/portcullis.{js}.wasm"),
    ] {
        assert!(html.contains(&name), "{name} not in the page");
    }

    let no_decompression = reqwest::Client::builder().no_gzip().no_brotli().build()?;
    for (file, mime) in [
        (format!("pkg/portcullis.{js}.wasm"), "application/wasm"),
        (format!("pkg/portcullis.{js}.js"), "javascript"),
        (format!("pkg/portcullis.{css}.css"), "text/css"),
    ] {
        for (accept, encoding, suffix) in [
            ("gzip, br", Some("br"), ".br"),
            ("br;q=0, gzip", Some("gzip"), ".gz"),
            ("identity", None, ""),
        ] {
            let res = no_decompression
                .get(srv.url(&format!("/{file}")))
                .header(header::ACCEPT_ENCODING, accept)
                .send()
                .await?;
            assert_eq!(res.status(), 200, "{file} {accept}");
            let h = res.headers().clone();
            assert_eq!(
                h.get(header::CONTENT_ENCODING)
                    .map(|v| v.to_str().unwrap_or("?")),
                encoding,
                "{file} {accept}"
            );
            assert!(
                h[header::CONTENT_TYPE].to_str()?.contains(mime),
                "{file}: {:?}",
                h[header::CONTENT_TYPE]
            );
            assert_eq!(
                h[header::CACHE_CONTROL],
                "public, max-age=31536000, immutable"
            );
            assert_eq!(h[header::VARY], "accept-encoding");
            let body = res.bytes().await?;
            let on_disk = std::fs::read(built.join(format!("{file}{suffix}")))?;
            assert!(
                body[..] == on_disk[..],
                "{file}{suffix}: served bytes differ from the build's"
            );

            // Revalidation: the validator of this answer gets a 304.
            let etag = h[header::ETAG].clone();
            let res = no_decompression
                .get(srv.url(&format!("/{file}")))
                .header(header::ACCEPT_ENCODING, accept)
                .header(header::IF_NONE_MATCH, etag.clone())
                .send()
                .await?;
            assert_eq!(res.status(), 304, "{file} {accept}");
            assert_eq!(res.headers()[header::ETAG], etag);
            assert!(res.bytes().await?.is_empty());
        }
    }

    // The favicon from the site root; the plain CSS copy revalidated.
    let res = c.get(srv.url("/favicon.svg")).send().await?;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "image/svg+xml");
    assert_eq!(
        res.bytes().await?[..],
        std::fs::read(built.join("favicon.svg"))?[..]
    );
    let res = c.get(srv.url("/pkg/portcullis.css")).send().await?;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");

    // Not served: a variant by its own name, what is not there.
    for path in [
        format!("/pkg/portcullis.{js}.wasm.br"),
        "/pkg/portcullis.0000000000000000.wasm".to_owned(),
        "/pkg/hash.txt".to_owned(),
    ] {
        let res = c.get(srv.url(&path)).send().await?;
        assert_eq!(res.status(), 404, "{path}");
        assert!(res.headers().get(header::CACHE_CONTROL).is_none(), "{path}");
    }
    // Nor the hash file at the root: the app answers that path (here, as
    // for any console page without a session, with the way to sign in).
    let res = c.get(srv.url("/hash.txt")).send().await?;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[header::LOCATION], "/login?next=%2Fhash.txt");
    srv.stop().await;
    Ok(())
}

/// A hash file naming files the site does not have stops the start with a
/// message naming the missing file (pages would never hydrate).
#[tokio::test]
async fn a_hash_file_naming_missing_files_stops_the_start() -> TestResult {
    let site = tempfile::tempdir()?;
    write_site(site.path())?;
    std::fs::remove_file(site.path().join(format!("pkg/portcullis.{WASM}.wasm")))?;
    let root = site.path().display().to_string();
    let config = crate::harness::test_config(&TestDb::sqlite(), &[("PORTCULLIS_SITE_ROOT", &root)]);
    let err = match portcullis::server::start(config, std::future::pending()).await {
        Ok(_) => return Err("the server started without its wasm".into()),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("PORTCULLIS_SITE_ROOT"), "{err}");
    assert!(
        err.contains(&format!("pkg/portcullis.{WASM}.wasm")),
        "{err}"
    );
    Ok(())
}
