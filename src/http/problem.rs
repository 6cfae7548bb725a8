//! Errors of the console's JSON endpoints as RFC 9457 problem details
//! (`application/problem+json`): one type for every JSON answer that is not
//! SCIM's (its own error schema, `src/scim.rs`) or OAuth's (RFC 6749
//! `error` / `error_description`, `src/oauth/`).
//!
//! ```json
//! {"type": "urn:portcullis:problem:invalid", "title": "Unprocessable Entity",
//!  "status": 422, "detail": "name: is required", "code": "invalid",
//!  "message": "name: is required", "field": "name",
//!  "errors": [{"field": "name", "message": "is required"}]}
//! ```
//!
//! `type` is `urn:portcullis:problem:<code>`, `title` the status's reason
//! phrase; `code`, `message` (the same as `detail`) and `field` are the
//! members this API answered before it spoke RFC 9457, kept so existing
//! gateways and scripts read them unchanged; `errors` lists every field
//! of a validation error. Every variant of the domain's [`Error`] has its
//! own status (no catch-all: a 403 or 404 never turns into a 500), and a
//! 500 says only that the request id is in `x-request-id`.

use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderValue};
use http::StatusCode;
use portcullis_domain::Error;
use portcullis_types::FieldError;

/// A refused request (small, so `Result<T, Problem>` stays cheap).
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    /// A stable, machine-readable code (`invalid`, `not_found`, …).
    pub code: &'static str,
    /// For people: what went wrong and, where it helps, what to do.
    pub detail: String,
    /// The input at fault, when one is.
    pub field: Option<String>,
    /// Every field at fault (validation errors).
    pub errors: Vec<FieldError>,
    /// Seconds to wait before retrying (429, 503).
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            code,
            detail: detail.into(),
            field: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// Names the input at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Asks the client to retry after `secs`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The body as JSON text.
    pub fn body(&self) -> String {
        serde_json::to_string(&ProblemBody {
            type_: format!("urn:portcullis:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            message: self.detail.clone(),
            field: self.field.clone(),
            errors: self.errors.clone(),
        })
        .unwrap_or_default()
    }
}

/// The JSON of a [`Problem`] (also its schema, `Problem`, in the OpenAPI
/// document).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// `urn:portcullis:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong and, where it helps, what to do.
    pub detail: String,
    /// Stable machine-readable code: `invalid`, `invalid_json`, `not_found`,
    /// `conflict`, `forbidden`, `unauthenticated`, `precondition_failed`, …
    pub code: String,
    /// The same as `detail` (kept for clients of the API before RFC 9457).
    pub message: String,
    /// The input at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every field at fault (validation errors).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Reads a JSON body of type `T`: 415 without `Content-Type:
/// application/json`, 400 naming the field (`decisions[3].at`) when the
/// JSON does not fit the type.
pub fn read_json<T: serde::de::DeserializeOwned>(
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<T, Problem> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        Problem {
            detail: match &field {
                Some(f) => format!("{f}: {}", e.inner()),
                None => format!("the body is not valid JSON of this shape: {}", e.inner()),
            },
            field,
            ..Problem::new(StatusCode::BAD_REQUEST, "invalid_json", "")
        }
    })
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(fields) => Problem {
                field: fields.first().map(|f| f.field.clone()),
                detail: fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors: fields,
                ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "")
            },
            Error::Conflict { field, message } => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{field}: {message}"),
            )
            .field(field),
            Error::NotFound(what) => Problem::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no such {what}"),
            ),
            Error::Forbidden(message) => Problem::new(StatusCode::FORBIDDEN, "forbidden", message),
            Error::Unauthenticated(message) => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
            }
            Error::RateLimited { retry_after_secs } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; try again in {retry_after_secs} s"),
            )
            .retry_after(retry_after_secs),
            Error::PreconditionFailed(message) => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                message,
            ),
            Error::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unreachable; retry shortly",
                )
                .retry_after(5)
            }
            Error::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong; the request id is in the x-request-id header",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            )],
            self.body(),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: Problem) -> (u16, Option<String>, serde_json::Value) {
        let body: serde_json::Value =
            serde_json::from_str(&p.body()).unwrap_or_else(|e| panic!("{e}"));
        let res = p.into_response();
        let retry = res
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(
            res.headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"application/problem+json"[..])
        );
        (res.status().as_u16(), retry, body)
    }

    #[test]
    fn every_domain_error_has_its_own_status() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (Error::invalid("name", "is required"), 422, "invalid"),
            (
                Error::Conflict {
                    field: "slug".into(),
                    message: "is taken".into(),
                },
                409,
                "conflict",
            ),
            (Error::NotFound("server"), 404, "not_found"),
            (Error::Forbidden("auditors read".into()), 403, "forbidden"),
            (
                Error::Unauthenticated("no key".into()),
                401,
                "unauthenticated",
            ),
            (
                Error::RateLimited {
                    retry_after_secs: 7,
                },
                429,
                "rate_limited",
            ),
            (
                Error::PreconditionFailed("stale".into()),
                412,
                "precondition_failed",
            ),
            (Error::Internal("boom".into()), 500, "internal"),
        ];
        for (error, status, code) in cases {
            let (got, _, body) = parts(error.into());
            assert_eq!((got, body["code"].as_str()), (status, Some(code)));
            assert_eq!(body["status"], status);
            assert_eq!(body["type"], format!("urn:portcullis:problem:{code}"));
            assert_eq!(body["detail"], body["message"]);
        }
    }

    #[test]
    fn validation_names_the_field_and_internal_errors_say_nothing() {
        let (_, _, body) = parts(Error::invalid("name", "is required").into());
        assert_eq!(body["field"], "name");
        assert_eq!(body["detail"], "name: is required");
        assert_eq!(body["errors"][0]["field"], "name");
        assert_eq!(body["title"], "Unprocessable Entity");
        let (_, _, body) = parts(Error::Internal("secret path /etc/x".into()).into());
        assert!(!body.to_string().contains("/etc/x"), "{body}");
        let (_, retry, _) = parts(
            Error::RateLimited {
                retry_after_secs: 7,
            }
            .into(),
        );
        assert_eq!(retry.as_deref(), Some("7"));
    }
}
