//! `AppError`: the error every server function returns.
//!
//! On the server it is built from [`portcullis_domain::Error`] by an
//! exhaustive match that also sets the HTTP status, so a server function
//! called directly (curl) gets 401/403/409/422/429/503 like the REST API.
//! Internal errors carry only the request id; the details are in the log.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use portcullis_types::FieldError;
use serde::{Deserialize, Serialize};

/// An error shown to the admin: a stable code, a plain message, and the
/// fields it concerns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
    #[serde(default)]
    pub request_id: Option<String>,
}

impl AppError {
    /// The message for one field, if the error names it.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|f| f.field == name)
            .map(|f| f.message.clone())
    }

    /// Whether the caller must sign in.
    pub fn is_unauthenticated(&self) -> bool {
        self.code == "unauthenticated"
    }

    /// Whether the role does not allow the call.
    pub fn is_forbidden(&self) -> bool {
        self.code == "forbidden"
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// Errors of the server function machinery. Arguments that do not
    /// decode (missing, or of the wrong type) are the caller's fault: 400
    /// with the argument named where the decoder says which
    /// (`missing field `search``); the rest stay `transport` errors.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) => {
                #[cfg(feature = "ssr")]
                crate::ssr::set_status(http::StatusCode::BAD_REQUEST);
                let field = named_field(&message);
                AppError {
                    code: "invalid_arguments".to_owned(),
                    message: match &field {
                        Some(f) => format!("{f}: {message}"),
                        None => message.clone(),
                    },
                    fields: field
                        .map(|f| vec![FieldError::new(f, message)])
                        .unwrap_or_default(),
                    request_id: None,
                }
            }
            other => AppError {
                code: "transport".to_owned(),
                message: other.to_string(),
                fields: Vec::new(),
                request_id: None,
            },
        }
    }
}

/// The argument a decoder's message names: `missing field `search`` → `search`.
fn named_field(message: &str) -> Option<String> {
    let rest = &message[message.find("field `")? + "field `".len()..];
    let name = &rest[..rest.find('`')?];
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::AppError;
    use http::StatusCode;
    use portcullis_domain::Error;

    impl From<Error> for AppError {
        fn from(e: Error) -> Self {
            let request_id = crate::ssr::request_id();
            let (status, message, fields) = match &e {
                Error::NotFound(what) => {
                    (StatusCode::NOT_FOUND, format!("{what} not found"), vec![])
                }
                Error::Conflict { field, message } => (
                    StatusCode::CONFLICT,
                    message.clone(),
                    vec![portcullis_types::FieldError {
                        field: field.clone(),
                        message: message.clone(),
                    }],
                ),
                Error::Invalid(fields) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    fields
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    fields.clone(),
                ),
                Error::Forbidden(m) => (StatusCode::FORBIDDEN, capitalise(m), vec![]),
                Error::Unauthenticated(m) => (StatusCode::UNAUTHORIZED, capitalise(m), vec![]),
                Error::RateLimited { retry_after_secs } => {
                    crate::ssr::set_header(
                        http::header::RETRY_AFTER,
                        &retry_after_secs.to_string(),
                    );
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        format!(
                            "Too many failed attempts. Wait {} minutes, or ask an owner to check the audit log.",
                            retry_after_secs.div_ceil(60)
                        ),
                        vec![],
                    )
                }
                Error::PreconditionFailed(m) => (StatusCode::CONFLICT, capitalise(m), vec![]),
                Error::Unavailable(source) => {
                    tracing::error!(request_id = ?request_id, error = %source, "database unavailable");
                    crate::ssr::set_header(http::header::RETRY_AFTER, "5");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The database is not answering. Nothing was changed; try again in a moment.".to_owned(),
                        vec![],
                    )
                }
                Error::Internal(detail) => {
                    tracing::error!(request_id = ?request_id, error = %detail, "internal error");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong on our side. Nothing was changed.".to_owned(),
                        vec![],
                    )
                }
            };
            crate::ssr::set_status(status);
            AppError {
                code: e.code().to_owned(),
                message,
                fields,
                request_id,
            }
        }
    }

    fn capitalise(s: &str) -> String {
        let mut c = s.chars();
        match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => String::new(),
        }
    }
}
