//! The session cookie → the caller ([`Actor`]) and request metadata, put in
//! the request's extensions for server functions and handlers; and the
//! redirect of signed-out visitors of console pages to `/login`.

use crate::server::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_domain::{Actor, RequestMeta};
use std::net::SocketAddr;
use tower_http::request_id::RequestId;

/// Paths reachable without a session (pages and assets).
fn is_public_path(path: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "/pkg/",
        "/api/",
        "/.well-known/",
        "/scim/",
        "/sso/",
        "/oauth/",
    ];
    const EXACT: &[&str] = &[
        "/login",
        "/setup",
        "/healthz",
        "/readyz",
        "/metrics",
        "/favicon.svg",
        "/favicon.ico",
    ];
    EXACT.contains(&path) || PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Reads the value of cookie `name` from the request headers.
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Who sent a request, for the audit trail: the TCP peer, the user agent
/// (at most 512 characters) and the request id.
pub fn request_meta(
    headers: &axum::http::HeaderMap,
    peer: SocketAddr,
    request_id: Option<&axum::http::HeaderValue>,
) -> RequestMeta {
    RequestMeta {
        source_ip: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
        request_id: request_id.and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

/// Resolves the caller; see the module docs.
pub async fn resolve_session(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let headers = req.headers();
    let meta = request_meta(
        headers,
        peer,
        req.extensions()
            .get::<RequestId>()
            .map(RequestId::header_value),
    );
    let path = req.uri().path().to_owned();
    let needs_session =
        !path.starts_with("/pkg/") && !matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics");
    let actor = match read_cookie(headers, &state.console.cookie_name) {
        Some(secret) if needs_session => match state
            .services
            .console
            .find_session(secret, meta.clone())
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                return unavailable(req.method() == Method::GET && !path.starts_with("/api/"));
            }
        },
        _ => None,
    };
    let signed_in = actor.is_some();
    if !signed_in && *req.method() == Method::GET && !is_public_path(&path) {
        let next_path = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let target = if next_path == "/" {
            "/login".to_owned()
        } else {
            format!("/login?next={}", urlencode(&next_path))
        };
        return Redirect::to(&target).into_response();
    }
    if signed_in && *req.method() == Method::GET && path == "/login" {
        return Redirect::to("/").into_response();
    }
    req.extensions_mut().insert(meta.clone());
    req.extensions_mut()
        .insert(actor.unwrap_or_else(|| Actor::anonymous(meta)));
    next.run(req).await
}

/// The answer while the database is not answering: a page for a browser
/// loading one (it reloads itself), JSON for the console's own calls.
/// Both say nothing was changed and to retry (`Retry-After: 5`).
fn unavailable(page: bool) -> Response {
    const MESSAGE: &str =
        "The console's database is not answering. Nothing was changed; try again in a moment.";
    if page {
        // Self-contained (the stylesheet may be what cannot load), light
        // and dark like the console.
        let html = format!(
            r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="10"><meta name="color-scheme" content="light dark"><title>Database not answering · Portcullis</title><style>
body {{ font-family: ui-sans-serif, system-ui, sans-serif; background: #fafafa; color: #18181b; margin: 0 }}
main {{ max-width: 32rem; margin: 12vh auto; padding: 2rem; background: #fff; border: 1px solid #e4e4e7; border-radius: 0.75rem }}
h1 {{ font-size: 1.125rem; margin: 0 0 0.5rem }}
p {{ margin: 0 0 1rem; line-height: 1.5 }}
.hint {{ margin: 0; color: #52525b; font-size: 0.875rem }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #09090b; color: #f4f4f5 }}
  main {{ background: #18181b; border-color: #27272a }}
  .hint {{ color: #a1a1aa }}
}}
</style></head><body><main><h1>Database not answering</h1><p>{MESSAGE}</p><p class="hint">This page tries again every 10 seconds. If it goes on, check the database the console uses and its <code>/readyz</code> endpoint.</p></main></body></html>"#
        );
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::RETRY_AFTER, "5"),
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            ],
            html,
        )
            .into_response()
    } else {
        super::problem::Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", MESSAGE)
            .retry_after(5)
            .into_response()
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The session cookie is found among others, by exact name.
    #[test]
    fn session_read_cookie_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; portcullis_session_x=no; portcullis_session=yes"
                .parse()
                .unwrap_or_else(|_| header::HeaderValue::from_static("")),
        );
        assert_eq!(read_cookie(&h, "portcullis_session"), Some("yes"));
        assert_eq!(read_cookie(&h, "missing"), None);
    }

    /// Sign-in pages, assets and probes are public; console pages are not.
    #[test]
    fn session_public_paths() {
        for p in [
            "/login",
            "/setup",
            "/pkg/portcullis.js",
            "/api/console/sign_in",
            "/healthz",
        ] {
            assert!(is_public_path(p), "{p}");
        }
        for p in ["/", "/audit", "/settings/admins", "/loginx"] {
            assert!(!is_public_path(p), "{p}");
        }
    }
}
