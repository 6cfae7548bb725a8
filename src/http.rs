//! HTTP adapters and middleware of the console.
//!
//! | module | what |
//! |---|---|
//! | [`assets`] | `/pkg/`: content-hashed, precompressed site assets, cached for good |
//! | [`forwarded`] | the client address behind trusted proxies (`PORTCULLIS_TRUSTED_PROXIES`) |
//! | [`ops`] | `/healthz`, `/readyz`, `/metrics` |
//! | [`problem`] | RFC 9457 problem details: the errors of every JSON endpoint but SCIM's and OAuth's |
//! | [`security`] | security headers with a CSP nonce, CSRF refusal of cross-site writes, request metrics |
//! | [`serve`] | HTTP workers on the shared listener (`portcullis-listener`: header, idle and body timeouts, connection caps, the shutdown deadline) (one single-threaded runtime per CPU), the fast path before the router, hand-off to the application runtime |
//! | [`session`] | session cookie → caller, and the sign-in redirect for console pages |
//! | [`too_large`] | 413 answers in the format of the route (SCIM, OAuth, JSON, text) |

pub mod assets;
pub mod audit_export;
pub mod forwarded;
pub mod ops;
pub mod problem;
pub mod security;
pub mod serve;
pub mod session;
pub mod stream;
pub mod too_large;

/// The credential of an `Authorization: Bearer …` header (scheme
/// case-insensitive per RFC 6750 usage), trimmed; `None` when absent.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}
