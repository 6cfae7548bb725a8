//! Clean answers for request bodies over `PORTCULLIS_MAX_BODY_BYTES`.
//!
//! Two things refuse an oversized body: tower-http's `RequestBodyLimitLayer`
//! (when `Content-Length` already says too much; it answers 413 with an empty
//! body) and axum's body extractors (when a chunked body runs over; 413 in
//! plain text). [`explain_too_large`] rewrites either 413 in the format the
//! caller of that route reads: a SCIM error under `/scim/v2`, an OAuth error
//! on the OAuth endpoints, a JSON problem on the rest of `/api/`, and a
//! plain-text sentence for browsers. Answers that already are JSON are left
//! alone.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

/// Rewrites a 413 as described in the module docs; `limit` is the largest
/// body accepted, in bytes.
pub async fn explain_too_large(State(limit): State<usize>, req: Request, next: Next) -> Response {
    // Classified before the request moves on (no copy of the path on
    // every request for the rare 413).
    let caller = Caller::of(req.uri().path());
    let mut res = next.run(req).await;
    if res.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json(&res) {
        return res;
    }
    let sentence = format!("The request body is larger than the {limit} bytes accepted here.");
    let (content_type, body) = match caller {
        Caller::Scim => {
            let body = json!({
                "schemas": [portcullis_scim::ERROR],
                "status": "413",
                "detail": sentence,
            });
            ("application/scim+json", body.to_string())
        }
        Caller::OAuth => {
            let body = json!({ "error": "invalid_request", "error_description": sentence });
            ("application/json", body.to_string())
        }
        Caller::Api => (
            "application/problem+json",
            super::problem::Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                sentence,
            )
            .body(),
        ),
        Caller::Browser => ("text/plain; charset=utf-8", sentence),
    };
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.remove(header::CONTENT_LENGTH);
    *res.body_mut() = Body::from(body);
    res
}

/// Who reads the answer of a path, by its prefix.
#[derive(Clone, Copy)]
enum Caller {
    Scim,
    OAuth,
    Api,
    Browser,
}

impl Caller {
    fn of(path: &str) -> Caller {
        if path.starts_with("/scim/") {
            Caller::Scim
        } else if path.starts_with("/oauth/") {
            Caller::OAuth
        } else if path.starts_with("/api/") {
            Caller::Api
        } else {
            Caller::Browser
        }
    }
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}
