//! The site's static assets under `/pkg/`: the wasm, its JS glue and the
//! CSS that `scripts/build-site.sh` builds into `<site root>/pkg/`.
//!
//! The build names the three files by content hash
//! (`portcullis.<hash>.{js,wasm,css}`, listed in `<site root>/hash.txt`, the
//! format of cargo-leptos' `hash-files`) and precompresses each beside
//! itself (`.br`, `.gz`). Pages name the hashed files (Leptos reads the hash
//! file: [`leptos_options`]); they are answered with the encoding the
//! browser accepts and `Cache-Control: public, max-age=31536000, immutable`,
//! so a navigation never fetches them again. Anything else under `/pkg/`
//! (the unhashed CSS copy that the plain server-rendered pages link, wasm
//! snippets, or a site built without hashes) is `no-cache`: revalidated,
//! answered 304 while unchanged. Pages themselves stay `no-store`
//! (`security.rs`).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use leptos::config::LeptosOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower_http::services::ServeDir;

/// The file of content hashes the site build writes at the site root.
pub const HASH_FILE: &str = "hash.txt";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Leptos' options for the site at `site_root`: with content-hashed asset
/// names when the build wrote [`HASH_FILE`] there (Leptos looks the hash
/// file up beside the executable unless its path is absolute, so it is
/// given absolute).
pub fn leptos_options(site_root: &Path, addr: SocketAddr) -> LeptosOptions {
    let root = std::path::absolute(site_root).unwrap_or_else(|_| site_root.to_path_buf());
    let hash_file = root.join(HASH_FILE);
    let hashed = hash_file.is_file();
    LeptosOptions::builder()
        .output_name("portcullis")
        .site_root(site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .hash_files(hashed)
        .hash_file(Arc::from(hash_file.display().to_string()))
        .build()
}

/// Serves `<site root>/pkg/`, choosing a precompressed `.br` or `.gz`
/// variant by `Accept-Encoding`.
pub fn pkg_service(site_root: &Path) -> ServeDir {
    let dir: PathBuf = site_root.join("pkg");
    ServeDir::new(dir).precompressed_br().precompressed_gzip()
}

/// Whether a `/pkg/` file name carries a content hash: `<name>.<16 hex
/// digits>.<ext>`, optionally with a compression suffix.
pub fn is_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    file.split('.')
        .any(|part| part.len() == 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The caching headers of an answer from `/pkg/` at `path`.
pub fn set_cache_headers(path: &str, status: StatusCode, h: &mut HeaderMap) {
    if !(status.is_success() || status == StatusCode::NOT_MODIFIED) {
        return;
    }
    let policy = if is_hashed(path) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    // The same URL answers with different encodings.
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_hashed("/pkg/portcullis.0123456789abcdef.wasm"));
        assert!(is_hashed("/pkg/portcullis.0123456789abcdef.js"));
        assert!(!is_hashed("/pkg/portcullis.css"));
        assert!(!is_hashed("/pkg/portcullis.wasm"));
        assert!(!is_hashed("/pkg/snippets/x-0123/inline0.js"));
        assert!(!is_hashed("/pkg/portcullis.0123456789abcdeg.css"));
    }

    #[test]
    fn immutable_only_for_hashed_names_and_good_answers() {
        let mut h = HeaderMap::new();
        set_cache_headers(
            "/pkg/portcullis.0123456789abcdef.css",
            StatusCode::OK,
            &mut h,
        );
        assert_eq!(h[header::CACHE_CONTROL], IMMUTABLE);
        assert_eq!(h[header::VARY], "accept-encoding");
        let mut h = HeaderMap::new();
        set_cache_headers("/pkg/portcullis.css", StatusCode::NOT_MODIFIED, &mut h);
        assert_eq!(h[header::CACHE_CONTROL], REVALIDATE);
        let mut h = HeaderMap::new();
        set_cache_headers(
            "/pkg/nope.0123456789abcdef.css",
            StatusCode::NOT_FOUND,
            &mut h,
        );
        assert!(h.get(header::CACHE_CONTROL).is_none());
    }
}
