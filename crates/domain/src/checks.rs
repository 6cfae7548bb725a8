//! Input checks several areas share (API keys, agents): a display name
//! and an expiry in days. Each adds its complaint to `errors`, naming the
//! field, so a form reports every problem at once.

use chrono::{DateTime, Duration, Utc};
use portcullis_types::FieldError;

/// The longest a credential (an API key, an agent) may be set to live.
pub const MAX_EXPIRES_DAYS: i64 = 3_650;

/// `name` trimmed: 1 to 100 characters, no control characters.
pub(crate) fn name(name: &str, errors: &mut Vec<FieldError>) -> String {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(
            "name",
            "enter a name of 1 to 100 characters",
        ));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "must not contain control characters",
        ));
    }
    name
}

/// `expires_days` from `now` (1 to [`MAX_EXPIRES_DAYS`]); none: no expiry.
pub(crate) fn expiry(
    days: Option<i64>,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    match days {
        None => None,
        Some(d) if (1..=MAX_EXPIRES_DAYS).contains(&d) => Some(now + Duration::days(d)),
        Some(_) => {
            errors.push(FieldError::new(
                "expires_days",
                format!("use 1 to {MAX_EXPIRES_DAYS} days, or leave it out for no expiry"),
            ));
            None
        }
    }
}
