//! The SCIM error response: an HTTP status, an optional `scimType` and a
//! human-readable detail (RFC 7644 §3.12).
//!
//! Owns [`ScimError`] and [`ScimType`] and their JSON rendering. Every
//! fallible function in this crate returns a `ScimError` that can be sent to
//! the client as is.
//!
//! Invariants:
//! - `status` is an HTTP error status (4xx); constructors pick the status the
//!   RFC assigns to each `scimType` (400 for most, 409 for `uniqueness`, 403
//!   for `sensitive`).
//! - `detail` is meant for the client: it names the offending position,
//!   token, attribute or limit, never internal state, and stays short (input
//!   echoed into it is truncated).
//! - [`ScimError::to_json`] renders `status` as a JSON *string*, as the RFC's
//!   examples and schema require.

use serde_json::{json, Value};

/// The `scimType` error keywords of RFC 7644 §3.12, Table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimType {
    /// The filter syntax was invalid, or the attribute or comparison is not supported.
    InvalidFilter,
    /// The filter yields too many results to process.
    TooMany,
    /// One or more unique attribute values are already in use.
    Uniqueness,
    /// The attempted modification is not compatible with the attribute's mutability.
    Mutability,
    /// The request body was malformed or did not conform to the request schema.
    InvalidSyntax,
    /// The `path` attribute was invalid or malformed.
    InvalidPath,
    /// The `path` did not yield an attribute or value that could be operated on.
    NoTarget,
    /// A required value was missing, or the value given was not compatible.
    InvalidValue,
    /// The specified SCIM protocol version is not supported.
    InvalidVers,
    /// The request cannot be completed because it would expose sensitive data.
    Sensitive,
}

impl ScimType {
    /// The keyword as it appears in the `scimType` member, e.g. `"invalidFilter"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }

    /// The HTTP status RFC 7644 §3.12 pairs with this keyword.
    pub fn status(self) -> u16 {
        match self {
            ScimType::Uniqueness => 409,
            ScimType::Sensitive => 403,
            _ => 400,
        }
    }
}

impl std::fmt::Display for ScimType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SCIM error response (RFC 7644 §3.12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCIM {status}{}: {detail}", scim_type.map(|t| format!(" {t}")).unwrap_or_default())]
pub struct ScimError {
    /// The HTTP status code, e.g. 400.
    pub status: u16,
    /// The `scimType` keyword, when the RFC defines one for the failure.
    pub scim_type: Option<ScimType>,
    /// A human-readable explanation for the client.
    pub detail: String,
}

/// The longest piece of client input echoed into a `detail`, in characters.
const ECHO_MAX: usize = 40;

/// Shortens client input before it is echoed into an error detail.
pub(crate) fn echo(s: &str) -> String {
    if s.chars().count() <= ECHO_MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(ECHO_MAX).collect();
        out.push('…');
        out
    }
}

impl ScimError {
    /// An error with the status the RFC assigns to `scim_type`.
    pub fn typed(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError {
            status: scim_type.status(),
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// 400 `invalidFilter`: the filter is malformed or uses something unsupported.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::typed(ScimType::InvalidFilter, detail)
    }

    /// 400 `invalidPath`: a PATCH `path` is malformed.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::typed(ScimType::InvalidPath, detail)
    }

    /// 400 `invalidValue`: a value is missing or has the wrong shape.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::typed(ScimType::InvalidValue, detail)
    }

    /// 400 `invalidSyntax`: the request body does not follow the message schema.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::typed(ScimType::InvalidSyntax, detail)
    }

    /// 400 `noTarget`: a PATCH path selects nothing to operate on.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::typed(ScimType::NoTarget, detail)
    }

    /// 409 `uniqueness`: a unique value is already taken.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::typed(ScimType::Uniqueness, detail)
    }

    /// 400 `mutability`: a read-only or required attribute would change or vanish.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::typed(ScimType::Mutability, detail)
    }

    /// 400 `tooMany`: the query would return more results than the server will process.
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::typed(ScimType::TooMany, detail)
    }

    /// 400 `invalidVers`: the requested protocol version is not supported.
    pub fn invalid_vers(detail: impl Into<String>) -> Self {
        Self::typed(ScimType::InvalidVers, detail)
    }

    /// 403 `sensitive`: answering would expose sensitive data (e.g. a secret in a URL).
    pub fn sensitive(detail: impl Into<String>) -> Self {
        Self::typed(ScimType::Sensitive, detail)
    }

    /// 404 without `scimType`: the resource does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        ScimError {
            status: 404,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// 412 without `scimType`: an `If-Match` precondition failed (RFC 7644 §3.14).
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        ScimError {
            status: 412,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// 401 without `scimType`: the client is not authenticated.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ScimError {
            status: 401,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// The error response body, e.g.
    /// `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidFilter","detail":"…"}`.
    /// `scimType` is omitted when there is none; `status` is a string.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [crate::ERROR],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, body.as_object_mut()) {
            obj.insert(
                "scimType".to_string(),
                Value::String(t.as_str().to_string()),
            );
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An invalid filter renders the RFC body with status as a string.
    #[test]
    fn error_to_json_invalid_filter_renders_rfc_body() {
        let e = ScimError::invalid_filter("bad token");
        assert_eq!(
            e.to_json(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "400",
                "scimType": "invalidFilter",
                "detail": "bad token"
            })
        );
    }

    /// A 404 has no scimType member at all.
    #[test]
    fn error_to_json_not_found_omits_scim_type() {
        let v = ScimError::not_found("User 42 not found").to_json();
        assert_eq!(v["status"], "404");
        assert!(v.get("scimType").is_none());
    }

    /// Each constructor carries the status and keyword the RFC assigns.
    #[test]
    fn error_constructors_any_match_rfc_table() {
        let cases = [
            (ScimError::invalid_filter("x"), 400, Some("invalidFilter")),
            (ScimError::invalid_path("x"), 400, Some("invalidPath")),
            (ScimError::invalid_value("x"), 400, Some("invalidValue")),
            (ScimError::invalid_syntax("x"), 400, Some("invalidSyntax")),
            (ScimError::no_target("x"), 400, Some("noTarget")),
            (ScimError::uniqueness("x"), 409, Some("uniqueness")),
            (ScimError::mutability("x"), 400, Some("mutability")),
            (ScimError::too_many("x"), 400, Some("tooMany")),
            (ScimError::invalid_vers("x"), 400, Some("invalidVers")),
            (ScimError::sensitive("x"), 403, Some("sensitive")),
            (ScimError::not_found("x"), 404, None),
            (ScimError::precondition_failed("x"), 412, None),
            (ScimError::unauthorized("x"), 401, None),
        ];
        for (e, status, kw) in cases {
            assert_eq!(e.status, status, "{e}");
            assert_eq!(e.scim_type.map(ScimType::as_str), kw, "{e}");
            assert_eq!(e.to_json()["status"], status.to_string());
        }
    }

    /// The Display form names status, keyword and detail for logs.
    #[test]
    fn error_display_typed_names_keyword() {
        assert_eq!(
            ScimError::no_target("nothing matched").to_string(),
            "SCIM 400 noTarget: nothing matched"
        );
        assert_eq!(ScimError::not_found("gone").to_string(), "SCIM 404: gone");
    }

    /// Long client input echoed into a detail is cut short.
    #[test]
    fn error_echo_long_input_truncates() {
        let long = "a".repeat(100);
        let e = echo(&long);
        assert_eq!(e.chars().count(), ECHO_MAX + 1);
        assert!(e.ends_with('…'));
        assert_eq!(echo("short"), "short");
    }
}
