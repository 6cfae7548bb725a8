//! Browser-facing protections (SECURITY.md W1, W4) and request metrics.
//!
//! - Every response gets a Content-Security-Policy with a per-request nonce
//!   for the hydration script, `object-src 'none'; base-uri 'none';
//!   frame-ancestors 'none'`, `nosniff`, a referrer policy, and HSTS when the
//!   public URL is https. HTML pages are `no-store`; `/pkg/` assets get
//!   their caching headers from `assets`.
//! - A state-changing request (any method but GET/HEAD/OPTIONS) that a
//!   browser marks as cross-site is refused with 403 before it reaches a
//!   handler: `Sec-Fetch-Site` must be `same-origin` or `none`; without it,
//!   `Origin` must be the console's own. Requests with neither header are
//!   not from a browser and carry no ambient credentials (`SameSite=Lax`).

use crate::server::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::RngCore;
use std::time::Instant;

/// The CSP nonce of this request; the page's scripts carry it.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// A response extension: one more `form-action` source for this response
/// only (the OAuth consent form's redirect back to the client's origin).
#[derive(Clone, Debug)]
pub struct FormActionExtra(pub String);

fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Adds the security headers; see the module docs.
pub async fn security_headers(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let nonce = new_nonce();
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let asset = req
        .uri()
        .path()
        .starts_with("/pkg/")
        .then(|| req.uri().path().to_owned());
    let mut res = next.run(req).await;
    if let Some(path) = asset {
        let status = res.status();
        super::assets::set_cache_headers(&path, status, res.headers_mut());
    }
    let extra = res
        .extensions()
        .get::<FormActionExtra>()
        .map(|e| e.0.clone())
        .filter(|e| !e.contains([';', ',', ' ', '\'']) && !e.is_empty())
        .map(|e| format!(" {e}"))
        .unwrap_or_default();
    let h = res.headers_mut();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'{extra}"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if state.console.cookie_secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a browser says this request is cross-site for the console at
/// `public_origin`. Exposed for unit tests.
pub fn is_cross_site(
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    public_origin: &str,
) -> bool {
    match (sec_fetch_site, origin) {
        (Some(site), _) => !matches!(site, "same-origin" | "none"),
        (None, Some(origin)) => origin != public_origin,
        (None, None) => false,
    }
}

/// Refuses cross-site state-changing requests with 403 (W1).
pub async fn refuse_cross_site(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    // The SAML HTTP-POST binding is a cross-site POST by design; its body
    // is checked by signature and bound to the browser at the next step.
    if !is_safe_method(req.method()) && !crate::sso::is_saml_acs(req.uri().path()) {
        let hdr = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        if is_cross_site(hdr("sec-fetch-site"), hdr("origin"), &state.public_origin) {
            tracing::warn!(
                path = %req.uri().path(),
                origin = ?hdr("origin"),
                sec_fetch_site = ?hdr("sec-fetch-site"),
                "refused a cross-site request"
            );
            return super::problem::Problem::new(
                StatusCode::FORBIDDEN,
                "cross_site_refused",
                "Cross-site requests cannot change anything here. Use the console itself.",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Counts requests by method, route and status, and records latency.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = match req.extensions().get::<MatchedPath>() {
        Some(p) => p.as_str().to_owned(),
        None if req.uri().path().starts_with("/pkg/") => "/pkg/{asset}".to_owned(),
        None => "unmatched".to_owned(),
    };
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2])
        .record(start.elapsed().as_secs_f64());
    res
}

/// The metric handles of one (method, route, status) of the gateway API.
type ApiMetricKey = (&'static str, &'static str, &'static str);

thread_local! {
    /// Handles looked up once per thread: `counter!`/`histogram!` build a
    /// key and search the registry on every call, which showed in profiles
    /// of the 304 path.
    static API_METRICS: std::cell::RefCell<
        std::collections::HashMap<ApiMetricKey, (metrics::Counter, metrics::Histogram)>,
    > = std::cell::RefCell::new(std::collections::HashMap::new());
}

/// [`record_metrics`] for the gateway API: the same series, with static
/// label values and handles cached per thread.
pub async fn record_api_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = api_route(req.uri().path());
    let res = next.run(req).await;
    record_api(&method, route, res.status(), start);
    res
}

/// The gateway route `path` is (a static label), or `"unmatched"`.
fn api_route(path: &str) -> &'static str {
    match path {
        "/api/v1/policy" => "/api/v1/policy",
        "/api/v1/gateway/status" => "/api/v1/gateway/status",
        "/api/v1/decisions" => "/api/v1/decisions",
        "/.well-known/jwks.json" => "/.well-known/jwks.json",
        "/oauth/token" => "/oauth/token",
        "/oauth/register" => "/oauth/register",
        "/oauth/revoke" => "/oauth/revoke",
        "/oauth/introspect" => "/oauth/introspect",
        "/.well-known/oauth-authorization-server" => "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration" => "/.well-known/openid-configuration",
        p if p.starts_with("/oauth/resources/") => "/oauth/resources/{slug}",
        p if p.starts_with("/.well-known/oauth-authorization-server/") => {
            "/.well-known/oauth-authorization-server/{path}"
        }
        p if p.starts_with("/.well-known/openid-configuration/") => {
            "/.well-known/openid-configuration/{path}"
        }
        _ => "unmatched",
    }
}

/// Counts one gateway API answer and its latency since `start`.
fn record_api(method: &Method, route: &'static str, status: StatusCode, start: Instant) {
    record_api_answers(method, route, status, &[start.elapsed().as_secs_f64()]);
}

/// Counts gateway API answers of one kind on `route` (a gateway route,
/// as [`api_route`] names it), one latency (seconds) each (the serve fast
/// path publishes its counts in batches).
pub fn record_api_answers(
    method: &Method,
    route: &'static str,
    status: StatusCode,
    latencies: &[f64],
) {
    if latencies.is_empty() {
        return;
    }
    let method: &'static str = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        _ => "other",
    };
    let status: &'static str = match status.as_u16() {
        200 => "200",
        202 => "202",
        226 => "226",
        304 => "304",
        400 => "400",
        401 => "401",
        404 => "404",
        405 => "405",
        413 => "413",
        415 => "415",
        422 => "422",
        500 => "500",
        503 => "503",
        _ => "other",
    };
    API_METRICS.with_borrow_mut(|m| {
        let (count, latency) = m.entry((method, route, status)).or_insert_with(|| {
            (
                metrics::counter!("http_requests_total", "method" => method, "route" => route, "status" => status),
                metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route),
            )
        });
        count.increment(latencies.len() as u64);
        for l in latencies {
            latency.record(*l);
        }
    });
}

/// The request id of an answer made before the router (the serve fast
/// path), as the gateway routes' layers would set it: the client's
/// `x-request-id`, else a new one.
pub fn request_id_for(request_headers: &axum::http::HeaderMap) -> HeaderValue {
    request_headers
        .get("x-request-id")
        .cloned()
        .unwrap_or_else(|| {
            let mut buf = uuid::Uuid::encode_buffer();
            let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
            HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("-"))
        })
}

#[cfg(test)]
mod tests {
    use super::is_cross_site;

    /// Browsers' own markings decide; without them the Origin must be ours.
    #[test]
    fn csrf_cross_site_detection() {
        let me = "http://127.0.0.1:3000";
        assert!(!is_cross_site(
            Some("same-origin"),
            Some("http://evil.example"),
            me
        ));
        assert!(!is_cross_site(Some("none"), None, me));
        assert!(is_cross_site(Some("cross-site"), Some(me), me));
        assert!(is_cross_site(Some("same-site"), None, me));
        assert!(is_cross_site(None, Some("http://evil.example"), me));
        assert!(is_cross_site(None, Some("null"), me));
        assert!(!is_cross_site(None, Some(me), me));
        assert!(!is_cross_site(None, None, me));
    }
}
