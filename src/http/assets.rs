//! The site: the wasm, its JS glue and the CSS that `scripts/build-site.sh`
//! builds into `target/site/pkg/`, and the files of `public/` at the site's
//! root (the favicon).
//!
//! **Where from.** The site is built into the binary (cargo feature
//! `embed-site`, on by default: `rust-embed` includes `target/site` as it
//! is when the server is compiled), so one file deploys the console. An
//! explicit `PORTCULLIS_SITE_ROOT` (or cargo-leptos' `LEPTOS_SITE_ROOT`)
//! serves a folder instead, for development; so does a binary built without
//! a site. [`Site::open`] decides, once, at start.
//!
//! **Names and caching.** The build names the three files by content hash
//! (`portcullis.<hash>.{js,wasm,css}`, listed in `hash.txt`, the format of
//! cargo-leptos' `hash-files`; the JS glue and the wasm share one hash, as
//! they only ever change together) and precompresses each beside itself
//! (`.br`, `.gz`). The names are read once at start: Leptos gets the JS and
//! wasm stem as its output name (so it reads no hash file per page) and the
//! app shell the stylesheet URL as a context ([`app::StylesheetHref`]).
//! Hashed files are answered with the encoding the browser accepts and
//! `Cache-Control: public, max-age=31536000, immutable`, so a navigation
//! never fetches them again. Anything else under `/pkg/` (the unhashed CSS
//! copy that the plain server-rendered pages link, or a site built without
//! hashes) is `no-cache`: revalidated, answered 304 while unchanged. Pages
//! themselves stay `no-store` (`security.rs`).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use leptos::config::LeptosOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower_http::services::ServeDir;

/// The file of content hashes the site build writes at the site root.
pub const HASH_FILE: &str = "hash.txt";
/// The output name: `<name>.js`, `<name>.wasm`, `<name>.css`.
const NAME: &str = "portcullis";
const PKG: &str = "pkg";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The site built into the binary. `rust-embed` rather than `include_bytes!`
/// by hand: it walks the folder, tracks its files for rebuilds and tolerates
/// a folder that does not exist yet (`cargo clippy` on a fresh clone, before
/// any site build).
///
/// Under `cargo clippy` it embeds nothing (a folder that never exists): a
/// lint run reads no site, so `make test` builds the site while clippy runs
/// without clippy ever listing a file the site build is about to rename.
/// The code around it is linted all the same.
#[cfg(feature = "embed-site")]
#[derive(rust_embed::RustEmbed)]
#[cfg_attr(not(clippy), folder = "target/site")]
#[cfg_attr(clippy, folder = "target/no-site-under-clippy")]
#[allow_missing = true]
struct Embedded;

/// A file of the site: its bytes and a strong validator.
struct SiteFile {
    data: std::borrow::Cow<'static, [u8]>,
    etag: String,
}

#[derive(Clone, Debug)]
enum Source {
    /// A folder on disk, served by `ServeDir`.
    Disk(PathBuf),
    /// The site built into the binary, served from memory.
    #[cfg(feature = "embed-site")]
    Embedded,
}

/// The site the server serves, and the names of its assets.
#[derive(Clone, Debug)]
pub struct Site {
    source: Source,
    /// `portcullis.<hash>` (or `portcullis` for a site built without hashes).
    stem: String,
    /// The stylesheet's URL path.
    css_href: String,
}

impl Site {
    /// The site to serve: the folder `explicit` names, else the one built
    /// into the binary, else `target/site`.
    pub fn open(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let source = match explicit {
            Some(dir) => Source::Disk(dir.to_path_buf()),
            None => Self::built_in().unwrap_or_else(|| Source::Disk(PathBuf::from("target/site"))),
        };
        let hashes = match &source {
            Source::Disk(dir) => match std::fs::read_to_string(dir.join(HASH_FILE)) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => anyhow::bail!("{}: {e}", dir.join(HASH_FILE).display()),
            },
            #[cfg(feature = "embed-site")]
            Source::Embedded => {
                Embedded::get(HASH_FILE).map(|f| String::from_utf8_lossy(&f.data).into_owned())
            }
        };
        let hashed = hashes.is_some();
        let (stem, css) = match hashes {
            Some(text) => asset_names(&text)?,
            None => (NAME.to_owned(), format!("{NAME}.css")),
        };
        let site = Self {
            source,
            stem,
            css_href: format!("/{PKG}/{css}"),
        };
        // A hash file naming files that are not there (a site rebuilt
        // while the server was compiled) would serve pages that never
        // hydrate: refuse to start instead.
        if hashed {
            let stem = &site.stem;
            for file in [format!("{stem}.js"), format!("{stem}.wasm"), css] {
                if !site.has(&format!("{PKG}/{file}")) {
                    anyhow::bail!(
                        "{HASH_FILE} names {PKG}/{file}, which the site ({}) does not have; \
                         rebuild with scripts/build-site.sh",
                        site.describe()
                    );
                }
            }
        }
        Ok(site)
    }

    #[cfg(feature = "embed-site")]
    fn built_in() -> Option<Source> {
        Embedded::get(HASH_FILE)
            .or_else(|| Embedded::get(&format!("{PKG}/{NAME}.wasm")))
            .map(|_| Source::Embedded)
    }

    #[cfg(not(feature = "embed-site"))]
    fn built_in() -> Option<Source> {
        None
    }

    /// Where the site comes from, for the start-up log.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Disk(dir) => dir.display().to_string(),
            #[cfg(feature = "embed-site")]
            Source::Embedded => "built into the binary".to_owned(),
        }
    }

    /// The stylesheet's URL path (`/pkg/portcullis.<hash>.css`).
    pub fn css_href(&self) -> &str {
        &self.css_href
    }

    /// Leptos' options: the JS and wasm named by the output name (the
    /// hashed stem), so Leptos reads no hash file.
    pub fn leptos_options(&self, addr: SocketAddr) -> LeptosOptions {
        let root = match &self.source {
            Source::Disk(dir) => dir.display().to_string(),
            // Only read by Leptos for a wasm-split manifest, which this
            // build does not make.
            #[cfg(feature = "embed-site")]
            Source::Embedded => "(built in)".to_owned(),
        };
        LeptosOptions::builder()
            .output_name(Arc::from(self.stem.as_str()))
            .site_root(Arc::from(root.as_str()))
            .site_pkg_dir(PKG)
            .site_addr(addr)
            .hash_files(false)
            .build()
    }

    /// The router for `/pkg/…`.
    pub fn pkg_router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        match &self.source {
            Source::Disk(dir) => axum::Router::new().fallback_service(
                ServeDir::new(dir.join(PKG))
                    .precompressed_br()
                    .precompressed_gzip(),
            ),
            #[cfg(feature = "embed-site")]
            Source::Embedded => axum::Router::new().fallback(
                |uri: axum::http::Uri, headers: HeaderMap| async move {
                    serve_embedded(&format!("{PKG}{}", uri.path()), &headers)
                },
            ),
        }
    }

    /// A file at the site's root (`/favicon.svg`), or `None` to let the app
    /// answer (its 404 page). The hash file is not served.
    pub fn root_file(&self, path: &str, headers: &HeaderMap) -> Option<Response> {
        let name = path.strip_prefix('/')?;
        if name.is_empty() || name.contains('/') || name == HASH_FILE || name.starts_with('.') {
            return None;
        }
        let file = self.read(name)?;
        Some(file_response(name, file, None, headers))
    }

    fn has(&self, name: &str) -> bool {
        match &self.source {
            Source::Disk(dir) => dir.join(name).is_file(),
            #[cfg(feature = "embed-site")]
            Source::Embedded => Embedded::get(name).is_some(),
        }
    }

    fn read(&self, name: &str) -> Option<SiteFile> {
        match &self.source {
            Source::Disk(dir) => {
                let data = std::fs::read(dir.join(name)).ok()?;
                let etag = etag_of(&sha256(&data));
                Some(SiteFile {
                    data: data.into(),
                    etag,
                })
            }
            #[cfg(feature = "embed-site")]
            Source::Embedded => embedded_file(name),
        }
    }
}

/// The stem and stylesheet name from the hash file's `js:`, `wasm:` and
/// `css:` lines.
fn asset_names(text: &str) -> anyhow::Result<(String, String)> {
    let hash = |kind: &str| {
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == kind)
            .map(|(_, h)| h.trim().to_owned())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| anyhow::anyhow!("{HASH_FILE}: no `{kind}:` line with a hash"))
    };
    let (js, wasm, css) = (hash("js")?, hash("wasm")?, hash("css")?);
    if js != wasm {
        anyhow::bail!(
            "{HASH_FILE}: the JS glue and the wasm have different hashes ({js}, {wasm}); \
             build the site with scripts/build-site.sh"
        );
    }
    Ok((format!("{NAME}.{js}"), format!("{NAME}.{css}.css")))
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn etag_of(hash: &[u8; 32]) -> String {
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[cfg(feature = "embed-site")]
fn embedded_file(name: &str) -> Option<SiteFile> {
    let f = Embedded::get(name)?;
    Some(SiteFile {
        etag: etag_of(&f.metadata.sha256_hash()),
        data: f.data,
    })
}

/// Answers `path` (relative to the site root) from the built-in site: the
/// `.br` or `.gz` variant when the browser accepts it, a 304 when its
/// `If-None-Match` names the answer's validator.
#[cfg(feature = "embed-site")]
fn serve_embedded(path: &str, headers: &HeaderMap) -> Response {
    // Variants are answered only through negotiation, never by name.
    if path.ends_with(".br") || path.ends_with(".gz") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let variant = accepted_encodings(headers)
        .into_iter()
        .find_map(|(enc, ext)| embedded_file(&format!("{path}.{ext}")).map(|f| (f, enc)));
    match variant {
        Some((file, enc)) => file_response(path, file, Some(enc), headers),
        None => match embedded_file(path) {
            Some(file) => file_response(path, file, None, headers),
            None => StatusCode::NOT_FOUND.into_response(),
        },
    }
}

/// The encodings with a precompressed variant that `Accept-Encoding`
/// allows (a positive quality), brotli first.
fn accepted_encodings(headers: &HeaderMap) -> Vec<(&'static str, &'static str)> {
    let accept: Vec<(String, bool)> = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let allowed = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .all(|q| q.trim().parse::<f32>().map(|q| q > 0.0).unwrap_or(false));
            (coding, allowed)
        })
        .collect();
    [("br", "br"), ("gzip", "gz")]
        .into_iter()
        .filter(|(enc, _)| {
            accept
                .iter()
                .find(|(c, _)| c == enc)
                .map(|(_, ok)| *ok)
                .unwrap_or(false)
        })
        .collect()
}

fn file_response(
    path: &str,
    file: SiteFile,
    encoding: Option<&'static str>,
    headers: &HeaderMap,
) -> Response {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut res = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == file.etag || t.trim() == "*")
        }) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = match file.data {
            std::borrow::Cow::Borrowed(b) => Body::from(axum::body::Bytes::from_static(b)),
            std::borrow::Cow::Owned(v) => Body::from(v),
        };
        let mut res = body.into_response();
        if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
            res.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        if let Some(enc) = encoding {
            res.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
        res
    };
    if let Ok(v) = HeaderValue::from_str(&file.etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
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
