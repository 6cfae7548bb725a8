//! The domain error: a small enum with stable codes.
//!
//! Every edge (REST problem JSON, SCIM error bodies, the console's server
//! functions) maps it exhaustively, so a new variant forces a decision there.
//! `Internal` never carries a message that reaches a client: the edge logs it
//! with the request id and answers with the id only.

use portcullis_types::FieldError;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist (or the caller may not know it does).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique value is taken; `field` names the input.
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    /// Input failed validation; each entry names its field.
    #[error("invalid input: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    /// Signed in, but the role does not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Not signed in, or the credentials are wrong.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Too many attempts; retry after the given number of seconds.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A precondition (`If-Match`, state machine) does not hold.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// The database could not be reached; the caller may retry.
    #[error("storage unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A bug or an unexpected fault. The message is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// A single-field validation error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::Invalid(_) => "invalid",
            Error::Forbidden(_) => "forbidden",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::RateLimited { .. } => "rate_limited",
            Error::PreconditionFailed(_) => "precondition_failed",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }
}

/// Unique constraints mapped to the input field they protect: (constraint
/// name, as PostgreSQL reports it; `table.column` as SQLite reports it; field;
/// message). The index names are the same in both backends' migrations.
const UNIQUE_CONSTRAINTS: &[(&str, &str, &str, &str)] = &[
    (
        "console_users_email_key",
        "console_users.email",
        "email",
        "a console user with this email already exists",
    ),
    (
        "directories_name_key",
        "directories.name_lower",
        "name",
        "a directory with this name already exists",
    ),
    (
        "directory_users_user_name_key",
        "directory_users.user_name_lower",
        "userName",
        "a user with this userName already exists in this directory",
    ),
    (
        "directory_groups_display_name_key",
        "directory_groups.display_name_lower",
        "displayName",
        "a group with this displayName already exists in this directory",
    ),
    (
        "mcp_servers_slug_key",
        "mcp_servers.slug",
        "slug",
        "another server has this slug",
    ),
    (
        "mcp_servers_resource_key",
        "mcp_servers.resource_url",
        "resource_url",
        "another server has this resource URL",
    ),
    (
        "gateways_name_key",
        "gateways.name_lower",
        "name",
        "a gateway with this name already exists",
    ),
];

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    // PostgreSQL names the constraint; SQLite only says
                    // "UNIQUE constraint failed: table.column".
                    let known = UNIQUE_CONSTRAINTS.iter().find(|(name, cols, _, _)| {
                        db.constraint() == Some(*name) || db.message().contains(cols)
                    });
                    if let Some((_, _, field, message)) = known {
                        return Error::Conflict {
                            field: (*field).to_owned(),
                            message: (*message).to_owned(),
                        };
                    }
                    return Error::Conflict {
                        field: "unknown".to_owned(),
                        message: "already exists".to_owned(),
                    };
                }
                Error::Internal(e.to_string())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => Error::Unavailable(e),
            _ => Error::Internal(e.to_string()),
        }
    }
}

/// Result with the domain error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
